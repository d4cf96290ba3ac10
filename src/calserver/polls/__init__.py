"""Meeting polls (issue 19): find a date with people who have an account and people who
do not; the chosen date becomes a meeting through the scheduling code."""
