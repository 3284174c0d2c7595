"""Reading ansible-runner events, for the tests that drive playbooks through it."""


def messages(events):
    """Every task result's msg (debug lines, failures, unreachable reasons), in the playbook's order."""
    found = []
    for event in events:
        result = event.get("event_data", {}).get("res", {})
        for item in [result, *result.get("results", [])]:
            if isinstance(item, dict) and "msg" in item:
                message = item["msg"]
                found += [str(line) for line in message] if isinstance(message, list) else [str(message)]
    return found
