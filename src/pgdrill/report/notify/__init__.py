"""Notifications: publishers that tell a chat, a webhook or a heartbeat monitor how a job ended.

``settings`` (the ``notify:`` section and the ``--slack-webhook-url``/``--webhook-url``/``--ping-url``
values, light: validating pgdrill.yml imports only it), ``messages`` (pure: an Outcome and its event →
the Slack message, the webhook's JSON document, the ping's body), ``send`` (the notifiers, on the one
HTTP layer :mod:`pgdrill.rest`). A notifier is a publisher like the GitHub one: it consumes the neutral
:class:`~pgdrill.report.outcome.Outcome`, never fails the job and never changes its verdict.
"""
