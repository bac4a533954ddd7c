// Sample inputs for the one-click buttons. Each is one golden event from tests/cases/normalize
// (copied into samples/ by scripts/web), or several of them in one of Okta's delivery shapes.

export const SAMPLES = [
  { label: 'Sign-in from Tor', file: 'user.session.start--failure-tor-exit.json' },
  { label: 'Super admin granted', file: 'user.account.privilege.grant--super-admin.json' },
  { label: 'Push denied', file: 'user.mfa.okta_verify.deny_push--user-rejected.json' },
  { label: 'MFA reset by help desk', file: 'user.mfa.factor.reset_all--helpdesk.json' },
  { label: 'OAuth client secret', file: 'app.oauth2.as.token.grant--client-credentials.json' },
  { label: 'Password spray', file: 'security.threat.detected--password-spray.json' },
];

async function load(file) {
  const response = await fetch(`samples/${file}`);
  if (!response.ok) throw new Error(`samples/${file}: HTTP ${response.status}`);
  return response.json();
}

/** The text of sample `i` (one LogEvent, pretty-printed). */
export async function sampleEvent(i) {
  return JSON.stringify(await load(SAMPLES[i].file), null, 2);
}

/** Every sample event in one delivery shape: `api-page`, `ndjson`, `event-hook` or `eventbridge`. */
export async function sampleBatch(shape) {
  const events = await Promise.all(SAMPLES.map((s) => load(s.file)));
  switch (shape) {
    case 'api-page':
      return JSON.stringify(events, null, 2);
    case 'ndjson':
      return events.map((e) => JSON.stringify(e)).join('\n') + '\n';
    case 'event-hook':
      return JSON.stringify(
        {
          eventType: 'com.okta.event_hook',
          eventTypeVersion: '1.0',
          cloudEventsVersion: '0.1',
          source: 'https://acme.okta.com/api/v1/eventHooks/whoql0HfiLGPWc8Jx0g3',
          eventId: 'b3a2f1c4-6f1e-4d3a-9a51-0c2b7e8d9f10',
          data: { events },
          eventTime: events[0].published,
          contentType: 'application/json',
        },
        null,
        2,
      );
    case 'eventbridge':
      return events
        .map((e) =>
          JSON.stringify({
            version: '0',
            id: `eb-${e.uuid}`,
            'detail-type': 'SystemLog',
            source: 'aws.partner/okta.com/acme/okta-log-stream',
            account: '123456789012',
            time: e.published,
            region: 'us-east-1',
            resources: [],
            detail: e,
          }),
        )
        .join('\n') + '\n';
    default:
      throw new Error(`unknown shape ${shape}`);
  }
}

/** A rule to try in the rule box: fires on the "Super admin granted" sample. */
export const SAMPLE_RULE = `title: Super administrator granted
id: 6d1f0f4e-8f0a-4b8e-9a43-3f2c6a1d7e21
name: playground_super_admin_grant
status: experimental
description: Someone was made a super administrator.
level: high
tags:
  - attack.privilege-escalation
  - attack.t1098.003
logsource:
  product: okta
  service: okta
detection:
  selection:
    eventType: user.account.privilege.grant
    debugContext.debugData.privilegeGranted|contains: Super administrator
  condition: selection
`;
