//! Integration tests of coursegen-lambda, in one test binary: the IAM grants of the SAM
//! template against what each stage's function really calls.

mod iam_contract;
