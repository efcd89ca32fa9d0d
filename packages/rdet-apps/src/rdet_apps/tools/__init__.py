"""The logic behind the analysis commands (``rdet analyze-logs``, ``flops``, ``benchmark``,
``confusion-matrix``, ``publish``, precision-recall curves, video inference): MMRotate's
``tools/analysis_tools`` and ``tools/model_converters`` as functions. The commands in
``rdet_apps.commands`` only parse arguments and print; each module here is imported when used.
"""
