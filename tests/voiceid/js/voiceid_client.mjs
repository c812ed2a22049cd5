// Second, independent Voice ID client: the AWS SDK for JavaScript v3 drives the emulator.
// Env: VOICEID_ENDPOINT, DOMAIN_ID, INPUT_S3_URI, OUTPUT_S3_URI, KMS_KEY_ID, ROLE_ARN.
// Prints one JSON document with what each call returned (or the error it raised).
import {
  VoiceIDClient,
  StartFraudsterRegistrationJobCommand,
  DescribeFraudsterRegistrationJobCommand,
  ListFraudsterRegistrationJobsCommand,
  StartSpeakerEnrollmentJobCommand,
  DescribeSpeakerEnrollmentJobCommand,
  ListSpeakerEnrollmentJobsCommand,
} from "@aws-sdk/client-voice-id";
import { clientOptions, errorOf, plain } from "../../emulator_js/sdk_helpers.mjs";

const env = process.env;
const client = new VoiceIDClient(clientOptions(env.VOICEID_ENDPOINT));

const jobInput = {
  DomainId: env.DOMAIN_ID,
  DataAccessRoleArn: env.ROLE_ARN,
  InputDataConfig: { S3Uri: env.INPUT_S3_URI },
  OutputDataConfig: { S3Uri: env.OUTPUT_S3_URI, KmsKeyId: env.KMS_KEY_ID },
};

const out = {};
const started = await client.send(new StartFraudsterRegistrationJobCommand({ ...jobInput, JobName: "from-js" }));
out.startFraudster = started.Job;
out.describeFraudster = (
  await client.send(new DescribeFraudsterRegistrationJobCommand({ DomainId: env.DOMAIN_ID, JobId: started.Job.JobId }))
).Job;
out.listFraudster = plain(
  await client.send(new ListFraudsterRegistrationJobsCommand({ DomainId: env.DOMAIN_ID, MaxResults: 10 })),
);
out.secondStartError = await errorOf(client.send(new StartFraudsterRegistrationJobCommand(jobInput)));
out.notFoundError = await errorOf(
  client.send(new DescribeFraudsterRegistrationJobCommand({ DomainId: env.DOMAIN_ID, JobId: "B".repeat(22) })),
);
out.patternError = await errorOf(
  client.send(new StartSpeakerEnrollmentJobCommand({ ...jobInput, InputDataConfig: { S3Uri: "ftp://nope" } })),
);
const speaker = await client.send(new StartSpeakerEnrollmentJobCommand(jobInput));
out.startSpeaker = speaker.Job;
out.describeSpeaker = (
  await client.send(new DescribeSpeakerEnrollmentJobCommand({ DomainId: env.DOMAIN_ID, JobId: speaker.Job.JobId }))
).Job;
out.listSpeaker = plain(
  await client.send(new ListSpeakerEnrollmentJobsCommand({ DomainId: env.DOMAIN_ID, JobStatus: "SUBMITTED" })),
);
process.stdout.write(JSON.stringify(out));
