import Testing

@Test func upstreamPlaceholder() {}
