"""Many databases from one pgdrill.yml: the ``databases:`` entries (:mod:`pgdrill.fleet.members`),
the GitHub Actions matrix that runs one job per database, and the status of every database read
back from its store (:mod:`pgdrill.fleet.status`) for the summary job and the dashboard.

pgdrill does not run the databases itself: GitHub Actions fans the jobs out (one runner each, in
parallel, one failing without stopping the others); pgdrill plans the matrix and reads the stores.
"""
