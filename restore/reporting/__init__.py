"""Comparing runs: collect a multirun's jobs, tabulate, plot, and show restored crops side by side.

``python -m restore.report MULTIRUN_DIR`` is the entry point (see ``restore/report.py``). This
package stays import-light: ``callbacks`` is loaded by Hydra at the start of every run.
"""
