"""`tunesmith pipeline recipe.yaml`: prep stages and training from one YAML file, skipped like make.

recipe.py reads and checks the file (variables, steps); commands.py turns each step into the
command line it stands for; fresh.py decides which steps are up to date; cli.py plans, prints
(--dry-run) and runs them.
"""
