"""Human hand-off: a person takes over a conversation, on any channel, and gives it back (docs/handoff.md).

``settings.py`` the config; ``service.py`` the one model (take, hand back, forward, agent replies, idle,
and what the delivery worker calls for the desk's queue); ``chatwoot.py`` the Chatwoot client and
``chatwoot_events.py`` what its webhook says (the route is ``web/handoff.py``); ``native.py`` the
platforms' own hand-over (Messenger's handover protocol in ``thread_control.py``, WeChat's customer
service); ``texts.py`` the gateway's own words to the user. This module imports nothing, so config.py can
import the settings.
"""
