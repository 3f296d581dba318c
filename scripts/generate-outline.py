#!/usr/bin/env python3
"""A synthetic outline for load runs and benchmarks (scripts/quota-run.sh, scripts/bench-seed.sh).

Usage: scripts/generate-outline.py MODULES LESSONS [TITLE] [DESCRIPTION] > outline.yaml

MODULES x LESSONS lessons with three topics each and no lab activities; module areas cycle
through twenty Kubernetes subjects, so every title is distinct and the output is deterministic.
"""
import sys

AREAS = ["Pods", "Deployments", "Services", "Ingress", "ConfigMaps", "Secrets", "RBAC", "Storage",
         "Networking", "Scheduling", "Autoscaling", "Observability", "Logging", "Security", "Helm",
         "Operators", "GitOps", "Upgrades", "Backups", "Troubleshooting"]


def main(argv):
    if len(argv) < 3:
        sys.exit(__doc__.strip().splitlines()[2])
    modules, lessons = int(argv[1]), int(argv[2])
    title = argv[3] if len(argv) > 3 else "Kubernetes at Scale"
    description = argv[4] if len(argv) > 4 else "A long course for load runs."
    print("course:")
    print(f"  title: {title}")
    print(f"  description: {description}")
    print("  language: en")
    print("  level: intermediate")
    print("  audience: [DevOps engineers]")
    print("modules:")
    for m in range(1, modules + 1):
        area = AREAS[(m - 1) % len(AREAS)]
        print(f"  - title: Module {m} — {area}")
        print(f"    summary: Working with {area.lower()} in production clusters.")
        print("    lessons:")
        for lesson in range(1, lessons + 1):
            print(f"      - title: {area} in practice, part {lesson}")
            print("        duration_minutes: 20")
            print("        topics:")
            for topic in ("concepts", "configuration", "failure modes"):
                print(f"          - {area} {topic} ({lesson})")


if __name__ == "__main__":
    main(sys.argv)
