/**
 * The English text the demo models learn from.
 *
 * Original prose written for modeldeck (no third-party text). The vocabulary is kept small on purpose: every distinct
 * word becomes a token and the tiny model's logits table grows with the square of the vocabulary, so ~1 MB of weights
 * allows only a few hundred distinct words. Words repeat a lot so that the bigram statistics branch and sampled
 * replies read like loose English rather than copies of one sentence.
 *
 * Paragraphs are separated by a blank line; sentences end with `.`, `!` or `?`. The generator cuts each paragraph into
 * assistant replies of a few consecutive sentences (see `bigram.ts`), which sets how soon a sampled reply ends.
 */
export const DEMO_CORPUS: string = `
The small town sits by the sea, and the old lighthouse stands at the end of the long stone road. Every night the light turns slowly over the water. The boats come home before the wind grows cold. People in the town say the light has never missed a night.

In the morning the baker opens the door of the little shop. The smell of warm bread fills the street. Children stop on the way to school and ask for a sweet roll. The baker laughs and gives them one each. Nobody leaves the shop without a smile.

The library is a quiet place with tall windows and a green door. Old books line the walls from the floor to the roof. A friendly woman keeps the library open every day of the week. She knows where every book lives. If you ask her a question, she will find the answer in a few minutes.

When the rain comes, the streets turn silver and the gardens drink deeply. The river rises and runs fast under the bridge. People walk with their heads down and their coats closed. After the rain the air is clean and the hills look very green. Birds come out and sing in the trees again.

A train leaves the station every hour. It runs along the coast, past the farms and the small white houses. From the window you can see the sea on one side and the hills on the other. The ride is slow, but nobody is in a hurry. Most people read a book or watch the water.

The garden behind the library is full of flowers in the summer. Bees move from one flower to the next. An old man comes every morning to water the plants. He says a garden is a good teacher because it asks for patience. The roses are his favourite, and he cares for them like friends.

At the market the farmers sell apples, cheese, bread and fresh fish. The sellers call out the prices and the buyers try to find a good deal. It is loud and busy, but it is also friendly. People meet their neighbours and talk about the weather. Nobody goes home with empty hands.

In the evening the town grows quiet. Lights come on in the windows one by one. Families sit down to eat and talk about the day. Outside, the sea keeps moving in the dark. The lighthouse turns its light over the water, and the boats sleep in the harbour.

I am a small model, and I only know a few words. I learned them from a short story about a town by the sea. My answers may not make much sense, but I try to be kind. Thank you for the question. I hope you have a good day!

Can a small model tell a story? It can try. The story may wander from the bread to the sea and back again. That is fine, because every story needs a little patience. Ask me again and I will tell you something new.
`;
