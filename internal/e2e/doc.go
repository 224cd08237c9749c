// Package e2e runs orgaudit in its deployed shape on this machine, end to
// end, with the real third-party runtimes: the three Lambda bootstraps built
// by the Makefile's SAM rules run under the AWS Lambda Runtime Interface
// Emulator with the environment template.yaml gives them; the real
// statemachine/auditor.asl.json runs on aws-local-stepfunctions, whose Lambda
// client invokes them through a local Lambda Invoke API; AWS is
// `orgaudit sim`, and in one scenario S3 is moto_server.
//
// The package holds only tests; docs/e2e.md describes what they run, what they
// assert and how to run them.
package e2e
