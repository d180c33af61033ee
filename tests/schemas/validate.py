#!/usr/bin/python3
"""validate.py SCHEMA.json < DOC.yaml: exits 0 when the YAML document is valid
against the JSON Schema, else prints the first error and exits 1."""
import json
import sys

import jsonschema
import yaml

schema = json.load(open(sys.argv[1]))
try:
    jsonschema.validate(yaml.safe_load(sys.stdin), schema)
except jsonschema.ValidationError as e:
    print(f"invalid at {'/'.join(str(p) for p in e.absolute_path)}: {e.message}")
    sys.exit(1)
