import {
  updateDashboard,
  type DashboardAction,
  type DashboardModel,
  type Effect,
} from '../../src/tui/dashboard-model.js';

/** Runs `actions` through the dashboard's reducer from `model`: the model they lead to, and every effect on the way. */
export function runActions(
  model: DashboardModel,
  actions: readonly DashboardAction[],
): { model: DashboardModel; effects: Effect[] } {
  const effects: Effect[] = [];
  for (const action of actions) {
    const r = updateDashboard(model, action);
    model = r.model;
    effects.push(...r.effects);
  }
  return { model, effects };
}
