"""Rehearsals of paper-tier cells at real size on generated data (``tram-bench rehearse``) and the memory
accounting that ``tram-bench plan --cost`` projects from them. See ``run.py`` for what a rehearsal runs."""
