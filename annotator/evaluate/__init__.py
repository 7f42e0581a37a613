"""Using the gold: drafts against gold (`compare`), annotators against each other (`agreement`)."""
