"""What the Titanic entry points share: features and model families (shipped inside every
logged model), parameters, passenger files, the step cache, run status and the command line."""
