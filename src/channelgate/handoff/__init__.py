"""Human hand-off: a person takes over a conversation, on any channel, and gives it back (docs/handoff.md).

``settings.py`` the config; ``service.py`` the one model (take, hand back, forward, agent replies, idle);
``desk.py`` what the delivery worker calls for the desk's queue; ``chatwoot.py`` the Chatwoot client;
``webhook.py`` Chatwoot's callback; ``native.py`` the platforms' own hand-over (Messenger's handover
protocol in ``thread_control.py``, WeChat's customer service). This module imports nothing, so config.py can import the settings.
"""
