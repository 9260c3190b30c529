/**
 * A minimal ONNX protobuf encoder: just the messages the demo models need.
 *
 * Field numbers follow onnx/onnx.proto (ModelProto, GraphProto, NodeProto, AttributeProto, TensorProto with external
 * data, ValueInfoProto / TypeProto.Tensor / TensorShapeProto with symbolic dimensions, OperatorSetIdProto,
 * StringStringEntryProto). onnx.proto is proto2, so repeated scalars are written unpacked, as the reference
 * serializer does; protobuf parsers accept both forms anyway.
 *
 * The encoder works on lists of byte chunks so that a large inline tensor is copied once, into the final buffer.
 */

/** Element types the demo graphs use, named as in TypeScript typed arrays. */
export type OnnxElementType = 'float32' | 'int64';

/** A tensor dimension: a fixed size, or a symbolic name such as `batch_size` that the runtime binds. */
export type OnnxDim = number | string;

/** A graph input or output: name, element type and shape. */
export interface OnnxValueInfo {
  readonly name: string;
  readonly elemType: OnnxElementType;
  readonly shape: readonly OnnxDim[];
}

/** An initializer whose bytes live inside the `.onnx` file (little-endian raw data). */
export interface OnnxInlineTensor {
  readonly kind: 'inline';
  readonly name: string;
  readonly dataType: OnnxElementType;
  readonly dims: readonly number[];
  /** Little-endian element bytes; length must equal the product of `dims` × element size. */
  readonly data: Uint8Array;
}

/** An initializer whose bytes live in a separate file next to the `.onnx` file. */
export interface OnnxExternalTensor {
  readonly kind: 'external';
  readonly name: string;
  readonly dataType: OnnxElementType;
  readonly dims: readonly number[];
  /** File name relative to the directory of the `.onnx` file. */
  readonly location: string;
  /** Offset of the first byte in that file, in bytes. */
  readonly offset: number;
  /** Length of the data, in bytes. */
  readonly length: number;
}

/** Any initializer. */
export type OnnxTensor = OnnxInlineTensor | OnnxExternalTensor;

/** A node attribute; only the kinds the demo graphs need. */
export type OnnxAttribute =
  | { readonly kind: 'int'; readonly name: string; readonly value: number }
  | { readonly kind: 'ints'; readonly name: string; readonly value: readonly number[] };

/** One operator in the graph (default `ai.onnx` domain). */
export interface OnnxNode {
  readonly opType: string;
  readonly name: string;
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  readonly attributes?: readonly OnnxAttribute[];
}

/** A graph: nodes in topological order, initializers, inputs and outputs. */
export interface OnnxGraph {
  readonly name: string;
  readonly nodes: readonly OnnxNode[];
  readonly initializers: readonly OnnxTensor[];
  readonly inputs: readonly OnnxValueInfo[];
  readonly outputs: readonly OnnxValueInfo[];
}

/** A whole model file. */
export interface OnnxModel {
  /** ONNX IR version (8 goes with opset 17). */
  readonly irVersion: number;
  /** Version of the default `ai.onnx` operator set. */
  readonly opsetVersion: number;
  readonly producerName: string;
  readonly producerVersion: string;
  readonly docString?: string;
  readonly graph: OnnxGraph;
}

/** A message or field under construction: byte chunks plus their total length. */
interface Chunks {
  readonly parts: readonly Uint8Array[];
  readonly length: number;
}

const WIRE_VARINT = 0;
const WIRE_LEN = 2;

const DATA_TYPE_CODES: Readonly<Record<OnnxElementType, number>> = { float32: 1, int64: 7 };

const ATTRIBUTE_TYPE_CODES = { int: 2, ints: 7 } as const;

const DATA_LOCATION_EXTERNAL = 1;

const textEncoder = new TextEncoder();

/** Varint of a non-negative safe integer, or of a negative one as 64-bit two's complement (10 bytes). */
function varint(value: number): Uint8Array {
  if (!Number.isSafeInteger(value)) throw new RangeError(`varint: ${value} is not a safe integer`);
  let v = value < 0 ? BigInt.asUintN(64, BigInt(value)) : BigInt(value);
  const out: number[] = [];
  do {
    const low = Number(v & 0x7fn);
    v >>= 7n;
    out.push(v > 0n ? low | 0x80 : low);
  } while (v > 0n);
  return Uint8Array.from(out);
}

function chunks(parts: readonly Uint8Array[]): Chunks {
  let length = 0;
  for (const p of parts) length += p.length;
  return { parts, length };
}

function join(fields: readonly (Chunks | undefined)[]): Chunks {
  const parts: Uint8Array[] = [];
  for (const f of fields) if (f !== undefined) parts.push(...f.parts);
  return chunks(parts);
}

function tag(field: number, wire: number): Uint8Array {
  return varint(field * 8 + wire);
}

function intField(field: number, value: number): Chunks {
  return chunks([tag(field, WIRE_VARINT), varint(value)]);
}

function lenField(field: number, payload: Chunks): Chunks {
  return chunks([tag(field, WIRE_LEN), varint(payload.length), ...payload.parts]);
}

function bytesField(field: number, bytes: Uint8Array): Chunks {
  return lenField(field, chunks([bytes]));
}

function stringField(field: number, value: string): Chunks {
  return bytesField(field, textEncoder.encode(value));
}

function repeatedInts(field: number, values: readonly number[]): Chunks {
  return join(values.map((v) => intField(field, v)));
}

// OperatorSetIdProto: domain = 1, version = 2.
function encodeOpset(version: number): Chunks {
  return join([stringField(1, ''), intField(2, version)]);
}

// StringStringEntryProto: key = 1, value = 2.
function encodeEntry(key: string, value: string): Chunks {
  return join([stringField(1, key), stringField(2, value)]);
}

// TensorProto: dims = 1, data_type = 2, name = 8, raw_data = 9, external_data = 13, data_location = 14.
function encodeTensor(t: OnnxTensor): Chunks {
  const head = [repeatedInts(1, t.dims), intField(2, DATA_TYPE_CODES[t.dataType]), stringField(8, t.name)];
  switch (t.kind) {
    case 'inline':
      return join([...head, bytesField(9, t.data)]);
    case 'external':
      return join([
        ...head,
        lenField(13, encodeEntry('location', t.location)),
        lenField(13, encodeEntry('offset', String(t.offset))),
        lenField(13, encodeEntry('length', String(t.length))),
        intField(14, DATA_LOCATION_EXTERNAL),
      ]);
    default: {
      const never: never = t;
      throw new Error(`unknown tensor kind ${JSON.stringify(never)}`);
    }
  }
}

// TensorShapeProto.Dimension: dim_value = 1, dim_param = 2. TensorShapeProto: dim = 1.
// TypeProto.Tensor: elem_type = 1, shape = 2. TypeProto: tensor_type = 1. ValueInfoProto: name = 1, type = 2.
function encodeValueInfo(v: OnnxValueInfo): Chunks {
  const dims = v.shape.map((d) => lenField(1, typeof d === 'number' ? intField(1, d) : stringField(2, d)));
  const shape = join(dims);
  const tensorType = join([intField(1, DATA_TYPE_CODES[v.elemType]), lenField(2, shape)]);
  const type = lenField(1, tensorType);
  return join([stringField(1, v.name), lenField(2, type)]);
}

// AttributeProto: name = 1, i = 3, ints = 8, type = 20.
function encodeAttribute(a: OnnxAttribute): Chunks {
  const name = stringField(1, a.name);
  const type = intField(20, ATTRIBUTE_TYPE_CODES[a.kind]);
  switch (a.kind) {
    case 'int':
      return join([name, intField(3, a.value), type]);
    case 'ints':
      return join([name, repeatedInts(8, a.value), type]);
    default: {
      const never: never = a;
      throw new Error(`unknown attribute kind ${JSON.stringify(never)}`);
    }
  }
}

// NodeProto: input = 1, output = 2, name = 3, op_type = 4, attribute = 5.
function encodeNode(n: OnnxNode): Chunks {
  return join([
    ...n.inputs.map((i) => stringField(1, i)),
    ...n.outputs.map((o) => stringField(2, o)),
    stringField(3, n.name),
    stringField(4, n.opType),
    ...(n.attributes ?? []).map((a) => lenField(5, encodeAttribute(a))),
  ]);
}

// GraphProto: node = 1, name = 2, initializer = 5, input = 11, output = 12.
function encodeGraph(g: OnnxGraph): Chunks {
  return join([
    ...g.nodes.map((n) => lenField(1, encodeNode(n))),
    stringField(2, g.name),
    ...g.initializers.map((t) => lenField(5, encodeTensor(t))),
    ...g.inputs.map((v) => lenField(11, encodeValueInfo(v))),
    ...g.outputs.map((v) => lenField(12, encodeValueInfo(v))),
  ]);
}

/**
 * Serialises a model to the bytes of an `.onnx` file.
 *
 * ModelProto: ir_version = 1, producer_name = 2, producer_version = 3, doc_string = 6, graph = 7, opset_import = 8.
 */
export function encodeOnnxModel(model: OnnxModel): Uint8Array {
  const encoded = join([
    intField(1, model.irVersion),
    stringField(2, model.producerName),
    stringField(3, model.producerVersion),
    model.docString === undefined ? undefined : stringField(6, model.docString),
    lenField(7, encodeGraph(model.graph)),
    lenField(8, encodeOpset(model.opsetVersion)),
  ]);
  const out = new Uint8Array(encoded.length);
  let at = 0;
  for (const p of encoded.parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
