import { alertGroupText } from '../lib/integrations/alertmanager-message';
import type { SubmitService } from '../lib/tasks/submit-service';
import type { Api } from './api';
import { routes } from './routes';

/**
 * POST /v1/integrations/alertmanager (ops): Alertmanager's webhook receiver. Each
 * notification becomes one feishu.notify task owned by the caller, so alerts are delivered,
 * retried and signed like any other Feishu message.
 */
export function integrationRoutes(app: Api, d: { submit: SubmitService }): void {
  app.openapi(routes.receiveAlerts.route, async (c) => {
    const task = { type: 'feishu.notify', payload: { text: alertGroupText(c.req.valid('json')) } };
    const { task: accepted } = await d.submit.submitOne(
      c.get('principal'),
      { accepted: task, body: task },
      null,
      { requestId: c.get('requestId'), trace: c.get('trace') },
    );
    return c.json({ taskId: accepted.id }, 202);
  });
}
