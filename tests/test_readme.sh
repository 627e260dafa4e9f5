#!/bin/sh
# usage: test_readme.sh REPO_ROOT
# Fails when the C program shown in README.md differs from examples/simple.c.
exec sh "$(dirname "$0")/../tools/readme-sync.sh" --check "$1"
