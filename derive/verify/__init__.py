"""Verification: read claims files (TOML, LaTeX, documents), judge each claim, report.

Pipeline: ``claims`` (loader and the safe expression parser) with ``declarations``, ``tensors``,
``shorthand``, ``rewrites`` and the LaTeX front end (``latex``, ``latex_parser``,
``latex_scheme``, ``latex_tensors``, ``document``) build validated claims; ``checker`` (with
``regions``, ``entrywise`` and the float screen ``approx``) decides each one inside
the time and memory budget of ``budget``; ``report`` prints the verdicts.
"""
