import Testing

@Test func servicesPlaceholder() {}
