"""The tool table: manifest models and loading, selection and registry, argument schemas, OpenAPI and README exports."""
