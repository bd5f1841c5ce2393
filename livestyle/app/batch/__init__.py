"""``livestyle batch``: restyle many files, on this machine (worker processes) or on a Ray
cluster, resumably (a manifest in the output folder), each exactly as ``livestyle run`` would.

Modules: :mod:`.plan` (inputs, outputs, settings hash), :mod:`.manifest`, :mod:`.task` (what a
worker runs for one file), :mod:`.local` and :mod:`.ray_engine` (the engines), :mod:`.command`
(the command). Kept light: worker processes import :mod:`.task` before numpy loads.
"""
