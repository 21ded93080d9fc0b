"""The only code that changes escalation policies, teams and escalations, by subsystem:

- `policies`: choosing a policy, and managers' changes to policies, levels and teams;
- `timers`: freezing the plan onto an incident, the sweep that fires due levels, escalating by
  hand;
- `digests`: the hourly digest (1時間集約) and the daily report (日次レポート);
- `handoffs`: the notice to the person whose on-call shift starts (30 minutes before).

Notices themselves leave through the outbox (`notices.services`).
"""
