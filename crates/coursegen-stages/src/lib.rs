//! coursegen stage handlers (PrepareCourse, ContentGen, VisualPlanner, ImagesGen, LabPlanner, LabWriter, BookBuilder) and offline providers.
