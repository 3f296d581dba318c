#!/usr/bin/env python3
"""Wrap a state machine definition in a raw AWS::StepFunctions::StateMachine template.

cfn-lint does not look inside AWS::Serverless::StateMachine definitions; wrapped as a raw
StateMachine with an inline `Definition`, the definition is checked by rule E3601 (and the
other StepFunctions rules). Every `${Name}` placeholder is replaced by a well-formed fake Lambda
ARN, as DefinitionSubstitutions would on AWS.

Usage: wrap-statemachine-for-cfn-lint.py DEFINITION.asl.json OUTPUT.json
"""

import json
import re
import sys

PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9_]+)\}")


def fake_arn(name: str) -> str:
    function = re.sub(r"FunctionArn$", "", name) or name
    return f"arn:aws:lambda:us-east-1:123456789012:function:coursegen-{function}"


def main() -> int:
    if len(sys.argv) != 3:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    source, target = sys.argv[1], sys.argv[2]
    with open(source, encoding="utf-8") as f:
        text = f.read()
    filled = PLACEHOLDER.sub(lambda m: fake_arn(m.group(1)), text)
    definition = json.loads(filled)
    template = {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": f"Generated from {source} for cfn-lint only; never deployed.",
        "Resources": {
            "StateMachine": {
                "Type": "AWS::StepFunctions::StateMachine",
                "Properties": {
                    "StateMachineType": "STANDARD",
                    "RoleArn": "arn:aws:iam::123456789012:role/coursegen-states",
                    "Definition": definition,
                },
            }
        },
    }
    with open(target, "w", encoding="utf-8") as f:
        json.dump(template, f, indent=2)
        f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
