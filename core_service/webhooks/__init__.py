"""Outgoing webhooks (F18): per-facility endpoints that receive signed events.

- :mod:`.endpoints`: what managers configure (URL, events, switch, secret rotation);
- :mod:`.outbox`: events written in the transaction of the change they announce, with
  :mod:`.payloads` for each event type's fields;
- :mod:`.delivery`: ``deliver_due``, which sends due deliveries, signs them
  (``kippu_contract.webhooks``) and retries with back-off; :mod:`.states` its moves;
- :mod:`.delivery_log`: the paged log the workbench shows; :mod:`.controllers`: the
  staff API. See docs/webhooks.md.
"""
