"""Erasure, rectification, restriction, objection and consent withdrawal, carried out in the connected
systems: one SystemTask per system and action on the task pipeline (dsr.tasks), each planned (a dry run
stored on the task), approved by an officer (or by the rules, where the law wants it at once), applied,
and proven by looking again; then the outcome letter built from the tasks, Art. 19 notices to the
recipients, and follow-up erasures for what a legal hold kept."""
