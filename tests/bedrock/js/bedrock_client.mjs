// Second, independent Bedrock client: the AWS SDK for JavaScript v3 drives the emulator.
// Env: BEDROCK_ENDPOINT, INPUT_S3_URI, OUTPUT_S3_URI, KMS_KEY_ID, ROLE_ARN, MODEL_ID.
// Prints one JSON document with what each call returned (or the error it raised).
import {
  BedrockClient,
  CreateModelInvocationJobCommand,
  GetModelInvocationJobCommand,
  ListModelInvocationJobsCommand,
  StopModelInvocationJobCommand,
} from "@aws-sdk/client-bedrock";
import { clientOptions, errorOf, plain } from "../../emulator_js/sdk_helpers.mjs";

const env = process.env;
const client = new BedrockClient(clientOptions(env.BEDROCK_ENDPOINT));

const jobInput = {
  jobName: "from-js",
  roleArn: env.ROLE_ARN,
  modelId: env.MODEL_ID,
  inputDataConfig: { s3InputDataConfig: { s3Uri: env.INPUT_S3_URI } },
  outputDataConfig: { s3OutputDataConfig: { s3Uri: env.OUTPUT_S3_URI, s3EncryptionKeyId: env.KMS_KEY_ID } },
  timeoutDurationInHours: 24,
};

const out = {};
const created = await client.send(new CreateModelInvocationJobCommand(jobInput));
out.create = plain(created);
out.get = plain(await client.send(new GetModelInvocationJobCommand({ jobIdentifier: created.jobArn })));
out.submitTimeIsDate = (await client.send(new GetModelInvocationJobCommand({ jobIdentifier: created.jobArn }))).submitTime instanceof Date;
out.list = plain(await client.send(new ListModelInvocationJobsCommand({ nameContains: "from-js", maxResults: 10 })));
out.repeat = plain(
  await client.send(new CreateModelInvocationJobCommand({ ...jobInput, clientRequestToken: out.get.clientRequestToken })),
);
out.notFound = await errorOf(client.send(new StopModelInvocationJobCommand({ jobIdentifier: "abcdefabcdef" })));
out.badName = await errorOf(client.send(new CreateModelInvocationJobCommand({ ...jobInput, jobName: "no spaces allowed" })));
out.badTimeout = await errorOf(client.send(new CreateModelInvocationJobCommand({ ...jobInput, timeoutDurationInHours: 10 })));
out.stop = plain(await client.send(new StopModelInvocationJobCommand({ jobIdentifier: created.jobArn })));
out.afterStop = plain(await client.send(new GetModelInvocationJobCommand({ jobIdentifier: created.jobArn })));
process.stdout.write(JSON.stringify(out));
