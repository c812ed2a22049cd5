// What the emulators' JavaScript SDK scripts (tests/voiceid/js, tests/bedrock/js) share: a client's options for
// an emulator, the error a call raised, and a response without its SDK metadata.

// Fake credentials (the emulators accept any) and one attempt, so a fault is seen rather than retried away.
export function clientOptions(endpoint) {
  return {
    region: "us-east-1",
    endpoint,
    credentials: { accessKeyId: "testing", secretAccessKey: "testing" },
    maxAttempts: 1,
  };
}

// null when the call succeeded; otherwise its error's name, HTTP status, message and (Voice ID) ResourceType.
export async function errorOf(promise) {
  try {
    await promise;
    return null;
  } catch (err) {
    return { name: err.name, status: err.$metadata?.httpStatusCode, message: err.message, resourceType: err.ResourceType };
  }
}

// The response as plain JSON: no $metadata, Dates as ISO strings.
export function plain(response) {
  const copy = { ...response };
  delete copy.$metadata;
  return JSON.parse(JSON.stringify(copy));
}
