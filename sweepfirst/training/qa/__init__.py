"""Extractive question answering (SQuAD v2), in the order a job uses the pieces: ``dataset`` (the
questions, local or Hub), ``splits`` (which questions train and which score, by article),
``span_processing`` (the field's recipe: questions to context windows, logits back to answers),
``features`` (a job's windows, cached), ``evaluation`` (n-best answers and the official metric)
and ``pipeline`` (the training job that ties them together)."""
