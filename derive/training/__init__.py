"""Training: data sets (``datasets``, the user's files in ``datafile``), the ``derive train``
command (``train``), the scikit-learn style ``estimator``, figures (``plots``) and ``demo``.
"""
