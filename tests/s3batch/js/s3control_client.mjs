// Second, independent S3 Batch Operations client: the AWS SDK for JavaScript v3 drives the emulator.
// The SDK prefixes the account id to the endpoint's host (123456789012.localhost), which does not resolve here:
// its requests go through S3CONTROL_PROXY (the emulator or the local cloud's gateway) with Node's own proxy
// support (an http.Agent with proxyEnv, Node 24), the SDK unchanged.
// Env: S3CONTROL_ENDPOINT, S3CONTROL_PROXY, ACCOUNT_ID, MANIFEST_ARN, MANIFEST_ETAG, REPORT_BUCKET_ARN, ROLE_ARN.
// Prints one JSON document with what each call returned (or the error it raised).
import http from "node:http";
import {
  CreateJobCommand,
  DeleteJobTaggingCommand,
  DescribeJobCommand,
  GetJobTaggingCommand,
  ListJobsCommand,
  PutJobTaggingCommand,
  S3ControlClient,
  UpdateJobPriorityCommand,
  UpdateJobStatusCommand,
} from "@aws-sdk/client-s3-control";
import { clientOptions, errorOf, plain } from "../../emulator_js/sdk_helpers.mjs";

const env = process.env;
const seenHosts = [];
const client = new S3ControlClient({
  ...clientOptions(env.S3CONTROL_ENDPOINT),
  requestHandler: { httpAgent: new http.Agent({ proxyEnv: { HTTP_PROXY: env.S3CONTROL_PROXY } }) },
});
client.middlewareStack.add(
  (next) => async (args) => {
    seenHosts.push(args.request.headers.host ?? args.request.hostname);
    return next(args);
  },
  { step: "finalizeRequest", priority: "low" },
);
const AccountId = env.ACCOUNT_ID;

const jobInput = {
  AccountId,
  ConfirmationRequired: true,
  Operation: { S3PutObjectTagging: { TagSet: [{ Key: "from", Value: "js" }] } },
  Manifest: {
    Spec: { Format: "S3BatchOperations_CSV_20180820", Fields: ["Bucket", "Key"] },
    Location: { ObjectArn: env.MANIFEST_ARN, ETag: env.MANIFEST_ETAG },
  },
  Report: { Bucket: env.REPORT_BUCKET_ARN, Format: "Report_CSV_20180820", Enabled: true, Prefix: "js", ReportScope: "AllTasks" },
  ClientRequestToken: "js-token-1",
  Priority: 5,
  RoleArn: env.ROLE_ARN,
  Description: "from the JS SDK",
  Tags: [{ Key: "team", Value: "js" }],
};

const out = {};
const created = await client.send(new CreateJobCommand(jobInput));
out.create = plain(created);
out.repeat = plain(await client.send(new CreateJobCommand(jobInput)));
const JobId = created.JobId;
const described = await client.send(new DescribeJobCommand({ AccountId, JobId }));
out.describe = plain(described);
out.creationTimeIsDate = described.Job.CreationTime instanceof Date;
out.list = plain(await client.send(new ListJobsCommand({ AccountId, JobStatuses: ["New", "Preparing", "Suspended"] })));
out.priority = plain(await client.send(new UpdateJobPriorityCommand({ AccountId, JobId, Priority: 7 })));
out.tags = plain(await client.send(new GetJobTaggingCommand({ AccountId, JobId })));
await client.send(new PutJobTaggingCommand({ AccountId, JobId, Tags: [{ Key: "a", Value: "b" }] }));
out.tagsAfterPut = plain(await client.send(new GetJobTaggingCommand({ AccountId, JobId })));
await client.send(new DeleteJobTaggingCommand({ AccountId, JobId }));
out.tagsAfterDelete = plain(await client.send(new GetJobTaggingCommand({ AccountId, JobId })));
out.notFound = await errorOf(client.send(new DescribeJobCommand({ AccountId, JobId: "00000000-0000-0000-0000-000000000000" })));
out.notSuspended = await errorOf(client.send(new UpdateJobStatusCommand({ AccountId, JobId, RequestedJobStatus: "Ready" })));
out.idempotency = await errorOf(client.send(new CreateJobCommand({ ...jobInput, Priority: 6 })));
out.badPriority = await errorOf(client.send(new CreateJobCommand({ ...jobInput, ClientRequestToken: "js-token-2", Priority: -1 })));
out.tooManyTags = await errorOf(
  client.send(new PutJobTaggingCommand({ AccountId, JobId, Tags: Array.from({ length: 51 }, (_, i) => ({ Key: `k${i}`, Value: "v" })) })),
);
out.cancel = plain(await client.send(new UpdateJobStatusCommand({ AccountId, JobId, RequestedJobStatus: "Cancelled", StatusUpdateReason: "js" })));
out.hosts = [...new Set(seenHosts)];
console.log(JSON.stringify(out));
