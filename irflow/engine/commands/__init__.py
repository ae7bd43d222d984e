"""The commands that write: each reads its case, checks the rules, and records.

- ``base``: what every command room shares (loading the case inside the transaction,
  naming the actor).
- ``checks``: the checks a command makes before it writes (moment, version, step open).
- ``opening``: opening a case of either kind of flow.
- ``steps``: the commands of flows of phases (complete a step, declare a flag, assign
  the coordinator, show the contacts).
- ``actions``: the actions of flows of states (an inquiry's ask, escalate, answer, ...).
"""
