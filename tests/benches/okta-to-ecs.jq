# The benchmark's peer: an Okta -> ECS mapping of the common fields in jq, written for
# comparison only (it has no categorization table, no user-agent parsing, no debugData parsing).
def nonempty: select(. != null and . != "");
{
  "@timestamp": .published,
  ecs: {version: "8.11.0"},
  event: {id: .uuid, action: .eventType, kind: "event", dataset: "okta.system",
    outcome: ((.outcome.result // "") | ascii_downcase
      | if . == "success" or . == "allow" then "success" elif . == "failure" or . == "deny" then "failure" else "unknown" end)},
  user: {name: .actor.alternateId, full_name: .actor.displayName, id: .actor.id},
  source: {ip: .client.ipAddress,
    geo: {city_name: .client.geographicalContext.city, country_name: .client.geographicalContext.country,
      region_name: .client.geographicalContext.state, location: .client.geographicalContext.geolocation},
    as: {number: .securityContext.asNumber, organization: {name: .securityContext.asOrg}}},
  user_agent: {original: .client.userAgent.rawUserAgent},
  okta: {
    uuid: .uuid, event_type: .eventType, display_message: .displayMessage, severity: .severity,
    actor: {id: .actor.id, type: .actor.type, alternate_id: .actor.alternateId, display_name: .actor.displayName},
    outcome: {result: .outcome.result, reason: .outcome.reason},
    target: [(.target // [])[] | {id, type, alternate_id: .alternateId, display_name: .displayName}],
    transaction: {id: .transaction.id, type: .transaction.type},
    authentication_context: {external_session_id: .authenticationContext.externalSessionId,
      interface: .authenticationContext.interface},
    security_context: {is_proxy: .securityContext.isProxy, domain: .securityContext.domain},
    debug_context: {debug_data: (.debugContext.debugData // {})}
  },
  related: {ip: [.client.ipAddress | nonempty], user: [.actor.displayName, .actor.alternateId | nonempty] | unique}
}
| walk(if type == "object" then with_entries(select(.value != null and .value != "" and .value != {} and .value != [])) else . end)
