"""The multi-user remote server (`serve --transport http --multi-user`): OAuth per user, every call
with that user's dVersum token, shared state in Redis so replicas behind a load balancer are
interchangeable (rate limit, confirmations, notifications, audit log)."""
