"""Training-side code: the sim world, dataset converters and loaders, trainers, export, annotation."""
