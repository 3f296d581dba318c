//! Where the deployment is: the state machine and the bucket, from a stack's outputs or given.

use super::api::{ApiError, Stacks};

/// The stack output naming the state machine (template.yaml).
pub(crate) const STATE_MACHINE_OUTPUT: &str = "StateMachineArn";
/// The stack output naming the course bucket (template.yaml).
pub(crate) const BUCKET_OUTPUT: &str = "CourseBucketName";

/// Why the deployment could not be found.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DeployError {
    #[error("stack {stack}: {source}")]
    Stack { stack: String, source: ApiError },
    #[error("stack {stack} has no output {missing} (its outputs: {found}); deploy this repository's template.yaml, or pass --state-machine ARN --bucket NAME")]
    MissingOutput { stack: String, missing: &'static str, found: String },
    #[error("give --stack NAME (the stack `sam deploy` created) or --state-machine ARN with --bucket NAME")]
    Unspecified,
    #[error(
        "--state-machine {0:?} is not a state machine ARN (arn:PARTITION:states:REGION:ACCOUNT:stateMachine:NAME)"
    )]
    BadArn(String),
}

/// The output `key` of `outputs`, or an error naming what the stack has.
pub(crate) fn output(stack: &str, outputs: &[(String, String)], key: &'static str) -> Result<String, DeployError> {
    outputs.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone()).ok_or_else(|| DeployError::MissingOutput {
        stack: stack.to_string(),
        missing: key,
        found: if outputs.is_empty() {
            "none".into()
        } else {
            outputs.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>().join(", ")
        },
    })
}

/// The stack's outputs.
pub(crate) async fn stack_outputs(stacks: &dyn Stacks, stack: &str) -> Result<Vec<(String, String)>, DeployError> {
    stacks.outputs(stack).await.map_err(|source| DeployError::Stack { stack: stack.to_string(), source })
}

/// Checks the shape of a state machine ARN.
pub(crate) fn check_state_machine_arn(arn: &str) -> Result<(), DeployError> {
    let parts: Vec<&str> = arn.split(':').collect();
    if parts.len() == 7
        && parts[0] == "arn"
        && parts[2] == "states"
        && parts[5] == "stateMachine"
        && !parts[6].is_empty()
    {
        Ok(())
    } else {
        Err(DeployError::BadArn(arn.to_string()))
    }
}

/// The Step Functions console page of an execution.
pub(crate) fn console_url(execution_arn: &str) -> String {
    let parts: Vec<&str> = execution_arn.split(':').collect();
    let partition = parts.get(1).copied().unwrap_or("aws");
    let region = parts.get(3).copied().unwrap_or("us-east-1");
    let host = match partition {
        "aws-cn" => format!("{region}.console.amazonaws.cn"),
        "aws-us-gov" => format!("{region}.console.amazonaws-us-gov.com"),
        _ => format!("{region}.console.aws.amazon.com"),
    };
    format!("https://{host}/states/home?region={region}#/v2/executions/details/{execution_arn}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::api::ApiResult;
    use async_trait::async_trait;

    struct Recorded(Vec<(String, String)>);

    #[async_trait]
    impl Stacks for Recorded {
        async fn outputs(&self, stack: &str) -> ApiResult<Vec<(String, String)>> {
            if stack == "coursegen" {
                Ok(self.0.clone())
            } else {
                Err(ApiError {
                    operation: "DescribeStacks",
                    code: Some("ValidationError".into()),
                    message: format!("Stack with id {stack} does not exist"),
                })
            }
        }
    }

    #[tokio::test]
    async fn the_state_machine_and_bucket_come_from_the_template_outputs() {
        let stacks = Recorded(vec![
            (STATE_MACHINE_OUTPUT.into(), "arn:aws:states:eu-west-1:123456789012:stateMachine:Course-1".into()),
            (BUCKET_OUTPUT.into(), "coursegen-coursebucket-abc".into()),
            ("ConsoleUrl".into(), "https://...".into()),
        ]);
        let outputs = stack_outputs(&stacks, "coursegen").await.unwrap();
        assert_eq!(output("coursegen", &outputs, BUCKET_OUTPUT).unwrap(), "coursegen-coursebucket-abc");
        let arn = output("coursegen", &outputs, STATE_MACHINE_OUTPUT).unwrap();
        check_state_machine_arn(&arn).unwrap();

        let err = stack_outputs(&stacks, "nope").await.unwrap_err().to_string();
        assert!(err.contains("stack nope") && err.contains("does not exist"), "{err}");
        let partial = vec![("ConsoleUrl".to_string(), "x".to_string())];
        let err = output("coursegen", &partial, BUCKET_OUTPUT).unwrap_err().to_string();
        assert!(err.contains("no output CourseBucketName") && err.contains("its outputs: ConsoleUrl"), "{err}");
    }

    #[test]
    fn console_urls_follow_the_partition_and_region_of_the_execution() {
        let arn = "arn:aws:states:eu-west-1:123456789012:execution:Course:run-1";
        assert_eq!(
            console_url(arn),
            format!(
                "https://eu-west-1.console.aws.amazon.com/states/home?region=eu-west-1#/v2/executions/details/{arn}"
            )
        );
        assert!(console_url("arn:aws-cn:states:cn-north-1:1:execution:C:n")
            .starts_with("https://cn-north-1.console.amazonaws.cn/"));
        assert!(check_state_machine_arn("arn:aws:states:us-east-1:1:execution:C:n").is_err());
    }
}
