"""What the incident change page posts, for tests that drive the admin."""


def form_for(incident, **extra):
    local = incident.detected_at.astimezone()
    return {
        "title": incident.title,
        "severity": incident.severity,
        "category": incident.category,
        "service": incident.service,
        "commander": "",
        "summary": incident.summary,
        "impact": incident.impact,
        "root_cause": incident.root_cause,
        "resolution": incident.resolution,
        "detected_at_0": local.strftime("%Y-%m-%d"),
        "detected_at_1": local.strftime("%H:%M:%S"),
        "new_note": "",
        "alerts-TOTAL_FORMS": "0",
        "alerts-INITIAL_FORMS": "0",
        "escalations-TOTAL_FORMS": "0",
        "escalations-INITIAL_FORMS": "0",
        "checklist_runs-TOTAL_FORMS": "0",
        "checklist_runs-INITIAL_FORMS": "0",
        "action_items-TOTAL_FORMS": "0",
        "action_items-INITIAL_FORMS": "0",
        "vendor_tickets-TOTAL_FORMS": "0",
        "vendor_tickets-INITIAL_FORMS": "0",
        **extra,
    }
