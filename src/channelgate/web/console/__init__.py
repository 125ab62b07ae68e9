"""The console at ``/console``: a server-rendered UI over the admin API's operations (docs/console.md).

Kept free of imports so ``channelgate console add-user`` starts without loading the web stack.
"""
