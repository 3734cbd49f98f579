"""Self-contained HTML reports of the tools (``--html-report=FILE``, ours).

- :mod:`.page`: the document, CSS, tables, inline SVG charts, atomic write;
- :mod:`.nodes`: per-node bars and the node table;
- :mod:`.plan`: hbal's plan;
- :mod:`.capacity`: hspace's capacity;
- :mod:`.health`: hinfo's and hcheck's cluster health;
- :mod:`.reboot`: hroller's reboot groups.

Imported only when the option is given.
"""
