"""Experiment trackers (``tram-bench run --tracker NAME``): each run's ``metrics.jsonl`` rows mirrored live,
with its config and final metrics, into TensorBoard, MLflow, trackio or W&B, offline, under the results
directory.

- :mod:`.contract`: the :class:`~.contract.Tracker` protocol every adapter implements, what it is given
  (:class:`~.contract.TrackedRun`, scalars per row, :class:`~.contract.FinalSummary`);
- :mod:`.choices`: the tracker names, the optional extra each needs, where its files go, and opening one;
- :mod:`.mirror`: the run's metrics log that forwards each appended row to the open trackers;
- one adapter module per tracker (:mod:`.tensorboard_events`, :mod:`.mlflow_filestore`,
  :mod:`.trackio_local`, :mod:`.wandb_offline`), each importing its library only when a run opens it.

The tracker names are an argument of the run (``run_cell(..., trackers=...)``), never part of the run id.
"""
