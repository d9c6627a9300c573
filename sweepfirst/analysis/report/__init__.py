"""The report of a run, as a pipeline whose files are numbered in the order it runs:

1. read facts   ``step1_run_facts`` (phases, selection, provenance from the state database) and
                ``step1_drift_facts`` (the drift jobs' results, the kept models)
2. build model  ``step2_build`` fills ``model.ReportData`` (a ``RunReport`` for a recorded run)
                from the database and each job's folder; ``step2_summary`` the production table
3. lay out      ``step3_layout`` makes a ``document.Document`` of it, with the run's failed jobs
                (``step3_layout_run``), drift (``step3_layout_drift``) and figures
                (``step3_figures``, ``step3_drift_figures``); ``step3_layout_summary`` the
                production table's one-page document
4. render       ``step4_html``, ``step4_markdown``, ``step4_latex`` (the summary as tables)
5. write        ``step5_write``: ``report.html``/``report.md``, ``report.json``, ``summary.tex``,
                ``summary.md``/``summary.json``, each atomically (``sweepfirst.files``)

``model`` and ``document`` are what the steps hand each other. Nothing is imported here: the
figures need matplotlib, and `status` must not pay for it.
"""
