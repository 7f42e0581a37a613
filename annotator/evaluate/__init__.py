"""Using the gold: drafts against gold (`eval`), annotators against each other (`agreement`), and the tasks
they dispute (`adjudicate`).

    metrics.py     pure: two annotations of one sentence compared field by field, by field kind
    compare.py     pure: pairs of draft and gold in, the `eval --json` report out
    agreement.py   pure: each task's annotations by annotator in, `agreement --json` out
    adjudicate.py  pure: the tasks whose annotators disagree, most disputed first, and which are settled
    confidence.py  pure: what eval says of the drafts' confidence, per group, out of sample
    html.py        the `eval --html` page, drawn from the JSON report
    charts.py      the inline SVG charts of that page
    load.py        the SQL edge: gold annotations, the drafts they started from, who annotated what
"""
