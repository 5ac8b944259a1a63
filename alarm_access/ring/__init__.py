"""`--hash-ring 1`: many access processes of one type and cluster share the work (spec launcher-and-ring §2).

`ownership` (pure: who owns a key among the active members) and `membership` (the Membership port and the
member's lease state machine). Which businesses a deployment cluster serves at all is `kernel.clusters`.
"""
