"""webhook-relay: forwards a processed batch to the partner's webhook URL."""

import json
import os
import urllib.request

from lambdaopt_shared import log_event


def handler(event, context):
    request = urllib.request.Request(
        event["webhook_url"],
        data=json.dumps({"batch_id": event["batch_id"], "records": event.get("records", [])}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    timeout = float(os.environ.get("REQUEST_TIMEOUT_SECONDS", "5"))
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status = response.status
    except OSError as error:
        # Re-raised so Lambda counts the failure and retries the asynchronous event.
        log_event("ERROR", "webhook delivery failed", batch_id=event["batch_id"], error=str(error))
        raise
    log_event("INFO", "webhook delivered", batch_id=event["batch_id"], status=status)
    return {"status": status}
