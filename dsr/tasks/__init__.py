"""The per-system task pipeline every kind of work uses: the export and each action.

One SystemTask per (case, system, action). A job claims its task with a compare-and-set and a database
lease, renews the lease while it works (progress on the case page), and ends it with a compare-and-set
on its own attempt number, so a worker presumed dead cannot overwrite the work of the one that took
over. A failure leaves the task pending for the retry, or failed on the last attempt; staff can start
a failed task again. A sweeper hands tasks of dead workers to new jobs.
"""
