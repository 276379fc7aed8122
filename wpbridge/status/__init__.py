"""status: what the bridge tells people: counters recorded as mail flows, the status page,
metrics, alerts and reports."""
